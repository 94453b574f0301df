from .base import *  # NOQA

DEBUG = False
