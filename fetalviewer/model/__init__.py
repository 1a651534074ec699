"""fetalviewer.model (Qt-free): the FetalCLIP / MobileFetalCLIP engine. torch and open_clip are imported lazily.

* :mod:`.selection`: THE way to get a model: ``select_model(model, weights, config, device)`` (``model``:
  ``auto | fetalclip | mobilefetalclip``) -> ``ModelSelection`` with ``identity()`` (ModelInfo without
  loading) and ``load()``; ``load_model(...)`` does both;
* :mod:`.families`: the two model families and recognising a checkpoint's family from its tensors;
* :mod:`.mobile`: MobileCLIP-style FastViT tensor names -> timm's (timm's own checkpoint filter);
* :mod:`.loader`: ``load_checkpoint(weights_path, config_path=None, device=...) -> LoadedModel``
  (``encode_image``, ``encode_image_with_blocks``, ``encode_text``, ``tokenize``, ``info: ModelInfo``);
* :mod:`.preprocess`: the reference preprocessing (``preprocess_image``, ``preprocess_batch``);
* :mod:`.readout`: plane / brain sub-plane / GA read-outs and the WHO HC check (numpy);
* :mod:`.planes`: class keys, ``PLANE_DISPLAY_NAMES``, prompt sets;
* :mod:`.results`: ``FramePrediction``, ``ModelInfo``;
* :mod:`.inputs`: ``FrameInput`` from DICOM frames (tissue-region crop) or image files;
* :mod:`.engine`: ``FetalClipEngine`` (read-outs per frame, text search), ``AnalyzeOptions``;
* :mod:`.text_cache`: on-disk text-embedding cache; :mod:`.weights`: where the weights are;
* :mod:`.service`: ``InferenceService``, the one worker thread that owns the model.
"""
