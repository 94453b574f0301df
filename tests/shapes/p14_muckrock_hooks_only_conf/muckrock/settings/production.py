from muckrock.settings.base import *

DEBUG = False
