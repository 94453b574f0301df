workers = 5
threads = 2
