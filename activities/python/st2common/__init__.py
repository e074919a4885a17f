# Squall's stand-in for StackStorm's st2common package: just enough of it for
# Python actions written for StackStorm to run unchanged under Squall.
