NAME = 'chain-c'
