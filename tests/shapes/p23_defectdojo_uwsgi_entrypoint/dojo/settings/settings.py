from .settings_dist import *  # noqa
