"""Small servers of the serving frameworks bench/peers_bench.py compares the service with (issue 24).

Each module runs in its own virtual environment (bench/.peers/NAME/venv, made by
`python bench/peers_bench.py --setup`) and wraps the same `load_predictor()` object as the service.
"""
