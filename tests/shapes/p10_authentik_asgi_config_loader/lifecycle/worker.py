from uvicorn.workers import UvicornWorker


class DjangoUvicornWorker(UvicornWorker):
    CONFIG_KWARGS = {"lifespan": "off"}
