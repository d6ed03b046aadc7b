"""Reading a trained run: inspect, predict, evaluate, plot."""
