from .base import *

DATABASES['default']['NAME'] = ':memory:'
