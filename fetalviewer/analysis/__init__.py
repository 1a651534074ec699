"""fetalviewer.analysis (Qt-free): pure functions on arrays and results.

* :mod:`.measurement` - ``Measurement`` (contract 2), ``make_distance``/``make_ellipse``/``edit_measurement``;
* :mod:`.geometry` - coordinate conventions, ``Ellipse``, ``InputMapping``, mask/outline -> ellipse fits;
* :mod:`.estimate` - ``Estimate`` (value or refusal, method, citation), weeks+days formatting;
* :mod:`.dating`, :mod:`.who_hc`, :mod:`.efw` - the equations of docs/formulas.md, each citing its paper;
* :mod:`.biometry` - head ellipse -> HC/BPD/OFD and GA, BPD caliper conversion, GA discordance;
* :mod:`.measurement_table` - ``MeasurementTable``: one value per parameter, GA, combined GA, EFW;
* :mod:`.frame_biometry` - per-frame JSON fields for ``analyze``; :mod:`.hc_evaluation` - HC scoring;
* :mod:`.chd` - clip-level CHD review prompt; :mod:`.best_frames` - best frame per plane.
"""
