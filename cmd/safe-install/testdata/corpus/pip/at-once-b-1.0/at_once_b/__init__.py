NAME = 'at-once-b'
