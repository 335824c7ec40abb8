"""Pure computation for Face Embedding Atlas.

Every public function in this package takes arrays or typed objects and returns frozen
dataclasses; none of them writes files (that is the job of :mod:`report` and the pipeline
driver). Randomness only enters through explicit ``random_state`` / ``seed`` arguments.
"""
