from config.settings.common import *
