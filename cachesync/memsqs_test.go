package cachesync

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// memSQS is an in-memory SQS of one region behind the SQS interface, for unit tests of the
// publisher and the agent. It keeps the limits of the real service that the code must respect:
//   - SendMessageBatch takes 1 to 10 entries with distinct ids (EmptyBatchRequest,
//     TooManyEntriesInBatchRequest, BatchEntryIdsNotDistinct), and bodies adding up to at most
//     256 KiB (BatchRequestTooLong, the whole call refused);
//   - a message body is at most 256 KiB and holds only the characters SQS allows (#x9 #xA #xD
//     #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF): SendMessage fails with InvalidParameterValue
//     or InvalidMessageContents, a batch entry fails alone, as a sender fault;
//   - a batch may fail in part: entryFault decides per entry (a server fault is retryable);
//   - a queue answers only for its own URLs (QueueDoesNotExist), as a region's endpoint does;
//   - a received message stays hidden for its visibility timeout; a delete takes its receipt.
//
// down makes every call fail with InternalError (a server fault: SQS is out). restart forgets
// every message, as a restarted ElasticMQ keeps nothing.
type memSQS struct {
	base string // URL prefix of this region's queues

	mu       sync.Mutex
	queues   map[string]*memQueue // by URL
	down     bool
	calls    int
	refusals map[string]int // error code → calls or entries refused with it
	// entryFault, if set, is asked for every batch entry and SendMessage: a non-empty code fails
	// that entry (the whole SendMessage) with it; sender says whose fault.
	entryFault func(body string) (code string, sender bool)
}

type memQueue struct {
	msgs   []*memMsg
	bodies map[string]int // body → times accepted (never forgotten by receives or deletes)
	seq    int
}

type memMsg struct {
	id, body, receipt string
	delay             int32
	hidden            bool
}

func newMemSQS(region string, queues ...string) *memSQS {
	m := &memSQS{base: "https://sqs." + region + ".amazonaws.com/000000000000/", queues: map[string]*memQueue{}, refusals: map[string]int{}}
	for _, q := range queues {
		m.queues[m.url(q)] = &memQueue{bodies: map[string]int{}}
	}
	return m
}

func (m *memSQS) url(name string) string { return m.base + name }

func (m *memSQS) setDown(down bool) {
	m.mu.Lock()
	m.down = down
	m.mu.Unlock()
}

// restart forgets every message (the accepted counts stay, for the tests' accounting).
func (m *memSQS) restart() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, q := range m.queues {
		q.msgs = nil
	}
}

// accepted returns how many times each body was accepted by the queue at url.
func (m *memSQS) accepted(url string) map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int{}
	if q := m.queues[url]; q != nil {
		for b, n := range q.bodies {
			out[b] = n
		}
	}
	return out
}

func (m *memSQS) refused(code string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.refusals[code]
}

func apiErr(code string, fault smithy.ErrorFault) error {
	return &smithy.GenericAPIError{Code: code, Message: "memSQS: " + code, Fault: fault}
}

// call starts a call on the queue at url (m.mu held): the queue, or the error SQS answers (or the
// context's).
func (m *memSQS) call(ctx context.Context, url *string) (*memQueue, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.calls++
	if m.down {
		m.refusals["InternalError"]++
		return nil, apiErr("InternalError", smithy.FaultServer)
	}
	q := m.queues[aws.ToString(url)]
	if q == nil {
		m.refusals["QueueDoesNotExist"]++
		return nil, &types.QueueDoesNotExist{Message: aws.String("The specified queue does not exist.")}
	}
	return q, nil
}

// bodyFault is SQS's verdict on one message body ("" = accepted).
func (m *memSQS) bodyFault(body string) (code string, sender bool) {
	if len(body) > MaxMessageBytes {
		return "InvalidParameterValue", true
	}
	if !validSQSChars(body) {
		return "InvalidMessageContents", true
	}
	if m.entryFault != nil {
		return m.entryFault(body)
	}
	return "", false
}

func validSQSChars(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case r == 0x9 || r == 0xA || r == 0xD:
		case r >= 0x20 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
		default:
			return false
		}
	}
	return true
}

func (q *memQueue) put(body string, delay int32) string {
	q.seq++
	id := "m" + strconv.Itoa(q.seq)
	q.msgs = append(q.msgs, &memMsg{id: id, body: body, delay: delay})
	q.bodies[body]++
	return id
}

func (m *memSQS) SendMessage(ctx context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, err := m.call(ctx, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if code, sender := m.bodyFault(aws.ToString(in.MessageBody)); code != "" {
		m.refusals[code]++
		fault := smithy.FaultServer
		if sender {
			fault = smithy.FaultClient
		}
		return nil, apiErr(code, fault)
	}
	return &sqs.SendMessageOutput{MessageId: aws.String(q.put(aws.ToString(in.MessageBody), in.DelaySeconds))}, nil
}

func (m *memSQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, err := m.call(ctx, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	refuse := func(code string, err error) (*sqs.SendMessageBatchOutput, error) {
		m.refusals[code]++
		return nil, err
	}
	switch n := len(in.Entries); {
	case n == 0:
		return refuse("EmptyBatchRequest", &types.EmptyBatchRequest{Message: aws.String("no entries")})
	case n > 10:
		return refuse("TooManyEntriesInBatchRequest", &types.TooManyEntriesInBatchRequest{Message: aws.String(fmt.Sprintf("%d entries", n))})
	}
	ids, size := map[string]bool{}, 0
	for _, e := range in.Entries {
		if ids[aws.ToString(e.Id)] {
			return refuse("BatchEntryIdsNotDistinct", &types.BatchEntryIdsNotDistinct{Message: aws.String(aws.ToString(e.Id))})
		}
		ids[aws.ToString(e.Id)] = true
		size += len(aws.ToString(e.MessageBody))
	}
	if size > MaxBatchBytes {
		return refuse("BatchRequestTooLong", &types.BatchRequestTooLong{Message: aws.String(fmt.Sprintf("%d bytes", size))})
	}
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		if code, sender := m.bodyFault(aws.ToString(e.MessageBody)); code != "" {
			m.refusals[code]++
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String(code), SenderFault: sender, Message: aws.String("memSQS")})
			continue
		}
		id := q.put(aws.ToString(e.MessageBody), e.DelaySeconds)
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String(id)})
	}
	return out, nil
}

func (m *memSQS) GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	u := m.url(aws.ToString(in.QueueName))
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.call(ctx, &u); err != nil {
		return nil, err
	}
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String(u)}, nil
}

// ReceiveMessage long-polls as SQS does, but briefly (at most 10 ms, not WaitTimeSeconds): an
// empty answer comes after that wait, so a receiver loop does not spin.
func (m *memSQS) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opt ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	for i := 0; ; i++ {
		out, err := m.receive(ctx, in)
		if err != nil || len(out.Messages) > 0 || i == 10 || in.WaitTimeSeconds == 0 {
			return out, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

func (m *memSQS) receive(ctx context.Context, in *sqs.ReceiveMessageInput) (*sqs.ReceiveMessageOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, err := m.call(ctx, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	max := int(in.MaxNumberOfMessages)
	if max < 1 || max > 10 {
		max = 1
	}
	out := &sqs.ReceiveMessageOutput{}
	for _, msg := range q.msgs {
		if len(out.Messages) == max {
			break
		}
		if msg.hidden {
			continue
		}
		msg.hidden = true // until deleted or made visible again (the fake has no clock)
		msg.receipt = msg.id + "-" + strconv.Itoa(q.seq)
		out.Messages = append(out.Messages, types.Message{MessageId: aws.String(msg.id), Body: aws.String(msg.body), ReceiptHandle: aws.String(msg.receipt)})
	}
	return out, nil
}

func (m *memSQS) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, err := m.call(ctx, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if len(in.Entries) == 0 || len(in.Entries) > 10 {
		return nil, &types.TooManyEntriesInBatchRequest{Message: aws.String("1 to 10 entries")}
	}
	out := &sqs.DeleteMessageBatchOutput{}
	for _, e := range in.Entries {
		kept := q.msgs[:0] // a receipt of a message already deleted succeeds too, as in SQS
		for _, msg := range q.msgs {
			if msg.receipt == "" || msg.receipt != aws.ToString(e.ReceiptHandle) {
				kept = append(kept, msg)
			}
		}
		q.msgs = kept
		out.Successful = append(out.Successful, types.DeleteMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

func (m *memSQS) ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, err := m.call(ctx, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	for _, msg := range q.msgs {
		if msg.receipt == aws.ToString(in.ReceiptHandle) && in.VisibilityTimeout == 0 {
			msg.hidden = false
		}
	}
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

var _ SQS = (*memSQS)(nil)
