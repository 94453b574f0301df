from muckrock.settings.base import *
