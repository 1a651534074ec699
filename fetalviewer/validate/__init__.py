"""Site acceptance test: does THIS installation reproduce the published zero-shot and biometry results?

``fetalviewer validate planes|ga|hc`` (and Help > Validate installation... in the window) run the installed
model on the public data sets as published (FETAL_PLANES_DB: Burgos-Artizzu et al., Sci Rep 2020, Zenodo
3904280; HC18: van den Heuvel et al., PLoS ONE 2018, Zenodo 1327317), compute the figures the model's
authors report with the authors' definitions, set them beside the published values and tolerances, and
write an acceptance report (JSON and PDF). Qt-free; the window runs the same jobs on a worker thread.

* :mod:`.datasets`: reading and checking the published folder layouts, dataset fingerprints;
* :mod:`.metrics`: F1 / accuracy / top-k / confusion matrix / bootstrap intervals (numpy);
* :mod:`.published`: the published figures, predictions and GA dot products, and tolerances;
* :mod:`.cache` and :mod:`.control`: resumable per-image cache, progress with ETA, cancel;
* :mod:`.planes`, :mod:`.ga`, :mod:`.hc`: the three jobs; :mod:`.report`: the acceptance report.
"""
