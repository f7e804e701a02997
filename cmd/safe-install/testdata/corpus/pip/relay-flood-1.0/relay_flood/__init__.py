NAME = "relay-flood"
