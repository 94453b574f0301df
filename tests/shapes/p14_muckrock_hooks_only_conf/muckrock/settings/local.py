from muckrock.settings.base import *

DEBUG = True
