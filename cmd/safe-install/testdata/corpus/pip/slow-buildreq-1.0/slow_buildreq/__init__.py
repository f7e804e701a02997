NAME = 'slow-buildreq'
