NAME = 'needs-slow-buildreq'
