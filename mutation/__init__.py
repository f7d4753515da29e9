"""A repeatable mutation run over the modules where a wrong line is a security or money bug.

`scripts/mutation` plants small, plausible bugs (cosmic-ray's operators), one at a time,
in each module that `scope.TARGETS` names, runs only the tests that execute the mutated
line, and reports per module how many the tests caught.
"""
