"""What the testbeds measure with beyond a plain cell: permutation nulls and calibrated stitches,
synthetic senders, the functional change of an intervention, sanity exhibits."""
