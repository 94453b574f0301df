DATABASE = {'NAME': 'netbox', 'USER': '', 'HOST': 'localhost', 'CONN_MAX_AGE': 300}
