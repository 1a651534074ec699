.PHONY: test package sample
test:
	bash tools/test.sh
package:
	bash tools/build_package.sh
sample:
	python3 tools/make_sample_study.py
