.PHONY: test demo lint bench
test:
	bash scripts/test.sh
lint:
	.venv/bin/ruff check kiosk hardware sync server_stub tests bench
