"""The capacity and cost model behind docs/cost.md: `python -m bench.cost --help`.

prices (AWS list prices, the month) and parameters (traffic, measured CPU and logs, the stack's
settings) feed model (capacity and cost, part by part, both compute options); items sizes the
DynamoDB items from the handlers' converter; render writes the markdown; cli is the command line.
"""
