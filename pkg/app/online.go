package app

import (
	"github.com/contactsync/contactsync/pkg/gateway"
)

// GatewayClients reaches Kafka and Redis for the webhook gateway with the
// security settings every contactsync process reads (TLS, SASL, Redis ACL
// and Cluster).
func GatewayClients(getenv func(string) string) (gateway.Clients, error) {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return gateway.Clients{}, err
	}
	kafkaOpts, err := KafkaOptions(cfg)
	if err != nil {
		return gateway.Clients{}, err
	}
	return gateway.Clients{
		KafkaBrokers: cfg.KafkaBrokers,
		KafkaOpts:    kafkaOpts,
		NewRedis:     func() (gateway.RedisClient, error) { return NewRedis(cfg) },
	}, nil
}
