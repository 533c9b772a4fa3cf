"""The analysis side: stored runs -> tables, plots and reports.

``experiments/`` (one level up) turns configs into runs and stores them; this
package only reads what was stored. It imports ``experiments.config``,
``experiments.store`` and ``experiments.data`` (class counts for runs stored
without them) and nothing that trains, so the dependency points one way.
"""
