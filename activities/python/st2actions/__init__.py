# Old StackStorm actions import their base class from st2actions; Squall
# keeps that path working.
