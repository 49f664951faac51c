"""The paper's equations as pure functions: the LIF step (Eq. 1-2) and its parameters as one
record, Heaviside and Eq. 8's gradient, Eq. 4 and its closed form, sign with straight-through,
the loss; imports torch and nothing else of ours."""
