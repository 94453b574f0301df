from .common import *  # noqa
