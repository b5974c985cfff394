"""The far end of the host <-> pipeline packet link: a simulated lane behind a port."""
