.PHONY: test demo lint bench
test:
	bash scripts/test.sh
demo:
	bash scripts/demo.sh $(ARGS)
lint:
	.venv/bin/ruff check kiosk hardware sync server_stub tests bench
