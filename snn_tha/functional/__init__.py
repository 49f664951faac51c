"""The paper's equations as pure functions (LIF step, Heaviside and Eq. 8's gradient, the
loss); imports torch and nothing else of ours."""
