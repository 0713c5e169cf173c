"""What a student takes home beyond Python: the classifier as an ONNX file (:mod:`.onnx_file`) and as a web page
that runs it in any browser, offline (:mod:`.web_page`)."""
