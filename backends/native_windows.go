package backends

// wincredLimit is CredWrite's blob limit. Wine does not enforce it, so we do.
const wincredLimit = 2560

func init() {
	register("wincred", func(cfg Config) (*Backend, error) {
		return Guard("wincred", native{}, wincredLimit, cfg.Timeout), nil
	})
}
