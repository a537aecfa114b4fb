"""The figures: pure calendar and interval maths (``intervals``, ``schedule``, ``periods``),
the one definition of every figure (``sla``), a period's figures from recorded history
(``history``) and the running totals behind the live metrics (``totals``)."""
