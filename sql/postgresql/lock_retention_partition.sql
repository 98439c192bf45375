-- Hold the day partition while it is re-counted and dropped: no event can land in it meanwhile.
LOCK TABLE {partition} IN ACCESS EXCLUSIVE MODE
