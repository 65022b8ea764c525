package backends

// keychainLimit: zalando passes the whole `security -i` command on one line
// capped at 4096 bytes, base64 of the secret included; 2,800 bytes of secret
// leaves room for service, account and the encoding prefix.
const keychainLimit = 2800

func init() {
	register("keychain", func(cfg Config) (*Backend, error) {
		return Guard("keychain", native{}, keychainLimit, cfg.Timeout), nil
	})
}
