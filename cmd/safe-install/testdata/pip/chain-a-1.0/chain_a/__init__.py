NAME = 'chain-a'
