"""Development helpers shared by the demo and the tests: a local AWS on moto, and sample bags.

Not part of the engine or the Lambda package; these may write to disk (temporary bag folders).
"""
