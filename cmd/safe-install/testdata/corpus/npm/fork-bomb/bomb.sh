# Keeps forking sleepers forever: without a process limit the host fills
# up; with one, forks fail and the loop spins until the time limit.
while :; do
	sleep 1000 &
done
