import importlib

# configuration.py is written by the operator (gitignored); only the example ships
configuration = importlib.import_module('netbox.configuration')
DATABASE = getattr(configuration, 'DATABASE')

DATABASES = {
    'default': DATABASE,
}
