"""Archive-scale batch analysis (``fetalviewer batch``): every frame of many studies through the model.

* :mod:`~fetalviewer.batch.schema`: the columns of ``frames-*.parquet`` and how a prediction becomes a row;
* :mod:`~fetalviewer.batch.worker`: one file -> rows, with the app's inference service (both engines);
* :mod:`~fetalviewer.batch.store`: the output folder (atomic part files, what is done, resume);
* :mod:`~fetalviewer.batch.engines`: ``local`` (in process) and ``ray`` (Ray core actors, one model per
  worker) behind one interface;
* :mod:`~fetalviewer.batch.studies`, :mod:`~fetalviewer.batch.summary`: per-study table, problems list and
  the summary page;
* :mod:`~fetalviewer.batch.runner`: the run itself (progress, Ctrl-C, resume).

Qt-free; ``pyarrow`` and ``ray`` are imported lazily (``ray`` only for ``--engine ray``).
"""
