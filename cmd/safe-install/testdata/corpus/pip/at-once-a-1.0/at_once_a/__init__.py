NAME = 'at-once-a'
