from .common import *  # noqa

DEBUG = True
