NAME = 'chain-b'
