"""Find and fix Django fleets whose gunicorn gevent workers defeat persistent DB connections."""
__version__ = "0.2.0"
