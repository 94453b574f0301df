accesslog = "-"
