package collector

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/hookline/hookline/internal/queuemetrics"
)

// CloudWatch publishes data with PutMetricData into the queue metrics'
// namespace, each datum with the stack as its one dimension.
type CloudWatch struct {
	Client    *cloudwatch.Client
	Namespace string // queuemetrics.Namespace unless a test says otherwise
	Stack     string
}

// Publish sends data in one PutMetricData call (at most 1,000 metrics a
// call: the collector sends nine a minute).
func (c *CloudWatch) Publish(ctx context.Context, data []Datum) error {
	ns := c.Namespace
	if ns == "" {
		ns = queuemetrics.Namespace
	}
	for len(data) > 0 {
		n := min(len(data), 1000)
		in := &cloudwatch.PutMetricDataInput{Namespace: aws.String(ns)}
		for _, d := range data[:n] {
			in.MetricData = append(in.MetricData, types.MetricDatum{
				MetricName:        aws.String(d.Name),
				Value:             aws.Float64(d.Value),
				Timestamp:         aws.Time(d.At),
				Unit:              types.StandardUnit(queuemetrics.Units[d.Name]),
				StorageResolution: aws.Int32(60),
				Dimensions:        []types.Dimension{{Name: aws.String(queuemetrics.StackDimension), Value: aws.String(c.Stack)}},
			})
		}
		if _, err := c.Client.PutMetricData(ctx, in); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}
