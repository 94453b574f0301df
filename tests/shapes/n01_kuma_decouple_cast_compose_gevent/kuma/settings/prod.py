from .common import *  # noqa

ALLOW_ROBOTS = True
